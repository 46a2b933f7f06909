"""Chat: a websocket room per channel with SuperChat, moderation, emotes, history and a Redis bus.

Modules: ``protocol`` (frames), ``content`` (text, emotes, blocked terms),
``room``/``hub`` (rooms and fan-out), ``bus``/``redis_bus`` (ordering and
delivery across processes), ``session`` (one websocket), ``actions`` (what users
do, shared with REST), ``store`` (moderation tables), ``wallet``/``payments``/
``superchat`` (paid messages), ``images`` (emote uploads), ``limits``.
"""
