"""The ABM signal engine: Faust app, pure decision logic, sinks, embedded stack and CLI."""
