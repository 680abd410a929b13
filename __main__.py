"""gitops-platform: load the stack's config, build the platform, export its outputs."""

from components.platform import main

main()
