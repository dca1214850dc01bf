"""The voice-biometrics engine (plain Python + numpy, no Django). It lands with the voice-engine issue."""
