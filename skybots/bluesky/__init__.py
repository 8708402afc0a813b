"""An AT Protocol client for what the reposter needs, on httpx: sessions, reads, reposts, typed errors."""
