from tccas.cli import main

raise SystemExit(main())
