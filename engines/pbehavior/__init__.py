"""engine-pbehavior: periodic behaviours (maintenance, pause…) and the events entering or leaving them."""
