"""Thin Faust agents: decode, call the pure logic, write one state record, emit."""
