"""Edge playback: live channels whose origin is another host of the site, pulled
once per channel and fanned out here (:mod:`~trioflix.live.edge.relays`), and the
one lookup every playback path uses (:mod:`~trioflix.live.edge.lookup`)."""
