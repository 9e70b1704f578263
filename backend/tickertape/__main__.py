from tickertape.cli import main

main()
