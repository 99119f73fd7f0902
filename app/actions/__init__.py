"""Official answers and the actions accepted proposals become: progress updates and residents' evaluations."""
