"""gitops-platform: load the stack's config, build the platform, export its outputs."""

from program import main

main()
