"""Video engines behind one protocol: the CPU preview engine by default, real models later."""
