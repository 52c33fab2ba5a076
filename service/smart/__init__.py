"""SMART App Launch 2.x: discovery, PKCE, token exchange, and the server-side launch session."""
