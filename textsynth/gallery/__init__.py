"""Preview gallery: browse synth, curate and bench outputs in a browser (`textsynth gallery`)."""
