"""Alerts: rules per tenant that watch whether mail flows, and the alerts they open and resolve."""
