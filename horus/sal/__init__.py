"""SAL: the system modules (os, process, net, text, redis, postgres, env) Rhai scripts of the ``sal`` runner use."""
