# map module: files listed by the module's owner
