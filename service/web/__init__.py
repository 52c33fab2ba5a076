"""The practice's web pages (form, live panel, Meldcode step, review, send, confirmation)."""
