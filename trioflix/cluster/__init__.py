"""Many hosts as one site: the building blocks shared through Redis and the site's secret.

Modules: ``host`` (this process's identity in the cluster), ``lease`` (one origin
per channel: a lease with a fencing epoch, and the task that holds it),
``members`` (heartbeats: which hosts are up, what they serve, how loaded they
are), ``checks`` (settings that would split the site, refused at start),
``shared_storage`` (hosts prove they see the same data directory), ``keys``
(keys derived from the shared secret) and ``pull_auth`` (the short-lived tokens
an edge presents when it pulls a channel from its origin); ``site`` puts them
together for the running server (this host's mode, its start-up checks and its
heartbeat). See docs/cluster.md.
"""
