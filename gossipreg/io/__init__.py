"""The I/O edge: asyncio runner, aiohttp transport and HTTP API."""
