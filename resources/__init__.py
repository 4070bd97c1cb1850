"""Files that ship with Resonance: default configs, the default model, icons."""
