"""Host tools: the parity check, and (issue 4) flashing, serial cameras and boards."""
