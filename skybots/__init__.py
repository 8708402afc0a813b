"""skybots: hosted Bluesky repost bots on Kubernetes."""

__version__ = "0.1.0"
