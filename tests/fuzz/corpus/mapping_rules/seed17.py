s = 'x'
for i in range(64):
    s += s