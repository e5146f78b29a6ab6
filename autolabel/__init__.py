"""autolabel: the command line and the local cloud."""
