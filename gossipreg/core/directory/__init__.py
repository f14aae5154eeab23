"""The agent directory: records and cards, owner writes, the visible view and its events.

Owns what an agent record is, the owner's writes of records, heartbeats and statuses, and the
view derived from the replica plus membership (visibility, effective status, events). Imports
the replica, membership, search (the view keeps the index current) and the shared vocabulary.
"""
