from init.cli import main

raise SystemExit(main())
