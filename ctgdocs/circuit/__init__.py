"""The CTG signing circuit: stages from the convention data, French messages and
e-mails, settings, the HTTP service (FastAPI) and its mailer, the demonstration steps.

The generic engine is :mod:`signers.circuit`; this package maps the convention onto it."""
