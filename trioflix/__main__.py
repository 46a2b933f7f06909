from trioflix.cli import main

raise SystemExit(main())
