"""MOF: compile Managed Object Format files and load them through the front door, like mofcomp."""
