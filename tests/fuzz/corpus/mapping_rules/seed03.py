return user.username
