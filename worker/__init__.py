"""Workers: RQ jobs, the periodic schedule and (later) the IDLE supervisor. Depends on ``app`` and ``tenants``."""
