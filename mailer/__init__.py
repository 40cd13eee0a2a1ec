"""mailer: invitations, summaries and newsletters for a network of organisations."""

__version__ = "0.1.0"
