x = 5
if x > 3:
    r = 'big'
elif x > 1:
    r = 'mid'
else:
    r = 'small'
return r