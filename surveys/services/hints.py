"""What a person can do about each kind of import issue (ImportIssue.hint).

One sentence per kind, shown beside the issue's reason in the admin and by import_survey.
"""

RECOPY = "Copy the file from the camera's card again (an interrupted copy cuts files off)."
NOT_A_PHOTO = "It is not a photo: leave it out of the folder, or give it its real extension."
CONVERT = "Only JPEGs are imported: convert it to JPEG, or leave it out."
TOO_BIG = ("If it is a real photo, raise MAX_IMAGE_PIXELS (or MAX_IMPORT_FILE_BYTES) on the "
           "server; otherwise leave it out.")
INSIDE_LINK = "Nothing to do: its files are imported from the folder it links to."
LINK = "Copy the files into the survey folder instead of linking to them."
PERMISSIONS = ("Let the importing worker's user read the file (check its permissions), then "
               "import again.")
NAME = "Rename the file or folder as the reason says, then import again."
NO_SITE = ("Change the survey's site regex or where names come from (admin: “Preview site and "
           "camera names”), then import again.")
DUPLICATE = "Nothing to do: the same picture is already in the survey."
TIMESTAMP = "Set the image's timestamp in the admin (Images), or fix the camera's clock."
SLOW = "Move the file to a local disk and import again."
