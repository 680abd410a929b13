"""The policy pack `pulumi preview --policy-pack policies` runs: assembles ALL_POLICIES."""

import sys
from pathlib import Path

from pulumi_policy import PolicyPack

# Pulumi runs this file from inside policies/; make the package importable by name.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies import ALL_POLICIES, PACK_NAME
from policies.configure import guard_configure

# Configure refuses unknown policy names and parameters instead of ignoring them.
guard_configure(ALL_POLICIES)
PolicyPack(name=PACK_NAME, policies=ALL_POLICIES)
