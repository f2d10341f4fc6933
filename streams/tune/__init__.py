"""`abm tune`: rule sets learned from a team's own history, scored without replaying."""
