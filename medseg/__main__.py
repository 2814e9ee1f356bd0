from medseg.cli.main import main

raise SystemExit(main())
