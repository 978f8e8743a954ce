"""Where engines keep entities and alarms: MongoDB for real, memory for the embedded chain."""
