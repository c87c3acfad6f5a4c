"""Local stand-ins of external HTTP services, served over real HTTP for tests."""
