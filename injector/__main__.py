from injector.cli import main

raise SystemExit(main())
