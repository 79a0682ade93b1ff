"""The lane controller: one registration lane on a Raspberry Pi."""
