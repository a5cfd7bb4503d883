"""helpline-ivr: a Twilio phone menu that guides callers in Belgium to emotional support."""
