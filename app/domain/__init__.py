"""The game's data and rules as plain Python: types, limits and pure functions, no I/O and no SDK.

Every layer above may import it (repositories store these types, services apply these rules, the API
shows them); it imports nothing of the app but ``app.core``.
"""
