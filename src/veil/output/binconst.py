"""Constants of the binary trace file that both its writer and reader
(veil.output.binary, struct) and its construct definition (veil.output.binformat)
need: this module imports nothing, so neither has to import the other."""

MAGIC = b"\x89VEIL\r\n\x1a"
NR_BITMAP_BYTES = 128  # VEIL_NR_MAX (1024) bits
