/* db — filled in below. */
