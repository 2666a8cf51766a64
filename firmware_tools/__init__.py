"""Host tools: the parity check, the virtual board, flashing, serial cameras and boards."""
