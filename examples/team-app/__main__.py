"""team-shop: the shop service on the gitops-platform (see shop.py)."""

from shop import main

main()
