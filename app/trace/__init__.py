"""Message trace: every step one message went through, with its timestamps."""
