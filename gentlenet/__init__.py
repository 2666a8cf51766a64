"""The `gentlenet` command: it composes the layers below it (device < trainer <
firmware_tools), so that trainer/ never needs to import firmware_tools/."""
