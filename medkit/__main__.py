from medkit.book.cli import main

raise SystemExit(main())
