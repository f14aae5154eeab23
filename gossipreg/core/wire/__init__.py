"""The wire format: frames, keys, addresses and one definition per protocol message.

Owns how bytes become messages and back: the frame (protocol version, cluster, HMAC under a
keyring; ``codec``), the message kinds with their fields (``probes``, ``members``, ``sync``,
registered by tag in ``messages``), and the checks every field passes on the way in
(``fields``). Imports nothing of the core but the shared vocabulary (``core.errors``,
``core.types``); the values a write carries are encoded and checked by a ``ValueCodec`` the
caller injects, so the wire knows no agent records.

The wire rule, which every change to the wire follows:

1. Tags and feature bits are append only: never renumbered, never reused.
2. A message or value gains fields only at its end, each optional for the reader. A parser
   reads the fields it knows and ignores trailing ones; a shape with fewer items than it knows
   is malformed. A new kind gets a new tag; an unknown tag is dropped alone (``unknown_type``).
3. A node announces what it understands in a ``Features`` message (its own row with its Alive,
   every known row beside each member table), and a sender uses a new kind, path or
   meaning-changing field only with a peer whose running generation announced the bit for it
   (``Member.understands``). A peer that announced nothing is a first-release node: it reads
   every shape at its exact length, so a field appended since must be left out of what it is
   sent (the value codec's job, per destination).
4. The frame's protocol version stays 1 while rules 2 and 3 can carry a change; a new frame
   version is accepted beside the previous one for a release before it is sent.
"""
